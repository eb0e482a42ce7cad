"""Stage one of the notebooks: datasets loaded, checked and split.

- ``registry``: dataset names → loaders, the ``Dataset`` they return, and the split.
- ``keras_files``: Keras"s own files (``mnist.npz``, Fashion-MNIST, CIFAR-10, digits).
- ``array_files``: NumPy arrays from Python or an ``.npz`` file.
- ``image_folders``: ``train/<class>/*.jpg`` folders.

No TensorFlow at import; image decoding loads it only when a folder is read.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["registry", "keras_files", "array_files", "image_folders"]
