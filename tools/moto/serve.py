"""moto's server, with DynamoDB requests taken one at a time.

moto's DynamoDB backend is not thread-safe: concurrent TransactWriteItems calls race in its
rollback snapshot and answer HTTP 500 ("dictionary changed size during iteration"), which real
DynamoDB never does. Serialising DynamoDB requests removes the race; SQS long polls and every
other service still run concurrently, as on moto's own threaded server.

It also answers `GET /_local/ses/messages`: the emails SES accepted, read from moto's own
record of them. moto's `/moto-api/data.json` has them too, but it serialises every model of
every service (every S3 object, every table row) on each call, which grows with the stack's data.

Usage: python serve.py HOST PORT
"""

import json
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

DYNAMODB_TARGET = "DynamoDB_"
dynamodb_lock = threading.Lock()


def main() -> None:
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
