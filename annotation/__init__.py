"""Label Studio adapter: the only importer of label_studio_sdk. Returns Qianbiao types."""
