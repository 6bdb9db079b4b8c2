"""The authorisation hook every handler calls before acting on a resource.

Today's broker has no authentication, so every connection is ``User:ANONYMOUS`` and the
default authorizer allows everything. SASL and ACLs (a later issue) plug in here: the
connection sets the principal, and an ACL authorizer answers ``authorize``; handlers
already answer TOPIC_AUTHORIZATION_FAILED and friends when it says no.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

__all__ = ["ANONYMOUS", "CLUSTER_NAME", "AllowAll", "Authorizer", "Operation", "ResourceType"]

ANONYMOUS = "User:ANONYMOUS"


class Operation(StrEnum):
    READ = "Read"
    WRITE = "Write"
    CREATE = "Create"
    DELETE = "Delete"
    ALTER = "Alter"
    DESCRIBE = "Describe"
    DESCRIBE_CONFIGS = "DescribeConfigs"
    ALTER_CONFIGS = "AlterConfigs"
    IDEMPOTENT_WRITE = "IdempotentWrite"
    CLUSTER_ACTION = "ClusterAction"  # broker-to-broker requests (replica fetches)


CLUSTER_NAME = "kafka-cluster"
"""The one cluster resource's name, as Kafka's."""


class ResourceType(StrEnum):
    TOPIC = "Topic"
    GROUP = "Group"
    CLUSTER = "Cluster"


class Authorizer(Protocol):
    def authorize(
        self, principal: str, operation: Operation, resource: ResourceType, name: str
    ) -> bool: ...


class AllowAll:
    def authorize(
        self, principal: str, operation: Operation, resource: ResourceType, name: str
    ) -> bool:
        return True
