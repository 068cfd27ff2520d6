"""REST API v1 views: authenticate, scope to the caller's enterprise, call a
selector or a service, shape the answer. Another enterprise's object is a 404.

One module per sub-domain (``projects``, ``items``, ``results``, ``callbacks``);
``base`` holds what they share. ``api/urls.py`` imports the views from them."""
