"""moto's server, with DynamoDB requests taken one at a time.

moto's DynamoDB backend is not thread-safe: concurrent TransactWriteItems calls race in its
rollback snapshot and answer HTTP 500 ("dictionary changed size during iteration"), which real
DynamoDB never does. Serialising DynamoDB requests removes the race; SQS long polls and every
other service still run concurrently, as on moto's own threaded server.

A transaction no longer copies its whole table: moto's TransactWriteItems deep-copies every table
it touches to roll back on failure, so each one costs time in proportion to the table (a room
of 10,000 WebSocket connections made its joins O(N²) and the bench's handshakes time out). Here
the items the transaction names are saved instead, and put back when it fails.

S3 event notifications carry the object's `versionId` when the bucket keeps versions, as S3's
do (moto leaves it out): the thumbnails function checks and keeps exactly the version the event
names, and deletes any other version of a single-use upload form's key.

It also answers `GET /_local/ses/messages`: the emails SES accepted, read from moto's own
record of them. moto's `/moto-api/data.json` has them too, but it serialises every model of
every service (every S3 object, every table row) on each call, which grows with the stack's data.

Usage: python serve.py HOST PORT
"""

import copy
import json
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

DYNAMODB_TARGET = "DynamoDB_"
dynamodb_lock = threading.Lock()


def cheap_transactions() -> None:
    """TransactWriteItems saving only the items it names (see the module's comment)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    class TablesUncopied:
        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        try:
            for entry in transact_items:
                op_type, op = next(iter(entry.items()))
                table = self.tables[op["TableName"]]
                source = op["Item"] if op_type == "Put" else op["Key"]
                key = {table.hash_key_attr: source[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = source[table.range_key_attr]
                item = self.get_item(op["TableName"], key)
                saved.append((op["TableName"], key, item.to_json()["Attributes"] if item else None))
        except Exception:
            # Anything unusual (a bad key, an unknown table): moto's own way, and its own answer.
            return original(self, transact_items)
        models.copy = TablesUncopied
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attrs in saved:
                if attrs is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attrs)
            raise
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


def versioned_s3_events() -> None:
    """S3 event records with `versionId` for objects of a versioned bucket."""
    import moto.s3.notifications as notifications

    original = notifications._get_s3_event

    def _get_s3_event(event_name, bucket, key, notification_id):
        event = original(event_name, bucket, key, notification_id)
        version = getattr(key, "version_id", None)
        if getattr(bucket, "is_versioned", False) and version and version != "null":
            for record in event["Records"]:
                record["s3"]["object"]["versionId"] = version
        return event

    notifications._get_s3_event = _get_s3_event


def main() -> None:
    cheap_transactions()
    versioned_s3_events()
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)

    def serialised(environ, start_response):
        if environ.get("PATH_INFO") == "/_local/ses/messages":
            return sent_emails(start_response)
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with dynamodb_lock:
            # The whole answer is produced inside the lock.
            return [b"".join(app(environ, start_response))]

    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


def sent_emails(start_response):
    from moto.core.model_instances import model_data

    model = model_data.get("ses", {}).get("Message")
    messages = [
        {
            "id": message.id,
            "source": message.source,
            "destinations": message.destinations,
            "subject": message.subject,
            "body": message.body,
        }
        for message in getattr(model, "instances_tracked", [])
    ]
    body = json.dumps(messages).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    main()
