"""The site: what mkdocs shows from the build store (shortcodes, banners, gallery, provenance,
navigation, the build report, hosting limits).

An mkdocs plugin, ``nn-explainers`` (:mod:`pipeline.site.plugin`, options in
:mod:`pipeline.site.config`), with its HTML and Markdown fragments as Jinja templates
(``templates/``, rendered by :mod:`pipeline.site.render`). It reads the store and never
imports TensorFlow.
"""
