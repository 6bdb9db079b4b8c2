"""Request handling: one module per API family (decode, call the cluster layer, encode),
a dispatcher that routes by API key, and the error-code mapping."""
