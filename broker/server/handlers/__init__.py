"""One module per API family: decode is done by the dispatcher; each handler calls the
cluster layer and builds the response."""
