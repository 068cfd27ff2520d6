"""Label Studio adapter: the only importer of label_studio_sdk. Returns Qianbiao types.

Modules by concern (each takes a :class:`annotation.client.LabelStudioClient` made by
``annotation.client.connect(url, token)`` and returns dataclasses from ``annotation.types``):

* ``server`` — install Label Studio in its own virtualenv, data-dir template, start/stop, CLI
* ``label_configs`` — config templates from parameters; validation by Label Studio itself
* ``projects`` — create (validated first), get, delete
* ``accounts`` — bulk idempotent provisioning, annotators' own tokens, deactivation
* ``queues`` — one saved view per annotator per project; the next task of a queue
* ``tasks`` — duplicate-safe batched push of assignments
* ``annotations`` — create as a user, list, export through the export endpoint
* ``webhooks`` — registration with a secret header; payload parsing without keeping it

Nothing here imports the Django platform (``qianbiao``).
"""
