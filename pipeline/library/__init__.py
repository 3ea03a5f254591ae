"""The explainer library: what recipes import inside their kernel (runtime, data, training,
replay, attribution, inspection, figure/table/video writers).

Its TensorFlow-free parts (errors, atomic files, the data registry, runtime constants) are the
only ones the build tool and the site may import. It never imports the build tool or the site.
"""
