#!/usr/bin/env python3
"""moto server with DynamoDB's operations serialised by one lock.

moto's TransactWriteItems snapshots the tables, applies the items and restores the snapshot
on a failed condition, without a lock; its server answers requests on several threads. Under
concurrent transactions (the case Klaxon's concurrency tests exist for) one request's restore
can undo or resurrect another's writes, which real DynamoDB (serialisable transactions) never
does. Serialising DynamoDB calls makes moto's DynamoDB behave like the real one here; every
other service is untouched. Usage is moto_server's: moto_server.py -H 127.0.0.1 -p PORT
"""
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend

_lock = threading.RLock()


def _serialised(method):
    def call(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return call


for _name in ("transact_write_items", "transact_get_items", "put_item", "update_item",
              "delete_item", "get_item", "query", "scan", "batch_get_item", "batch_write_item"):
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))

from moto.server import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    sys.exit(main())
