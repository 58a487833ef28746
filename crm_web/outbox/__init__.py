"""The one outbox every email and SMS goes through (see delivery.py for the guarantee)."""
