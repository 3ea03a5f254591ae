"""The site: what mkdocs shows from the build store (shortcodes, banners, gallery, provenance,
navigation, the build report, hosting limits).

It reads the store and never imports TensorFlow.
"""
