"""Code that runs inside Label Studio's own interpreter (its virtualenv and Django).

Label Studio has this directory itself on its ``PYTHONPATH`` and imports the modules as
top-level names; our side imports only :mod:`qianbiao_signing` from it (as
``annotation.signing``), which needs nothing but the standard library.
"""
