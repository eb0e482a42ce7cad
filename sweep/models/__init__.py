"""Stages two and three of the notebooks: the CNN family, building a model, training it.

- ``params``: the family as a flat parameter dict (pure: validation, shapes, parameter counts).
- ``user_models``: a user"s own model function and the parameters it takes (pure).
- ``build``: a Keras model from parameters, compiled; averaging models; saving portably.
- ``views``: which test-time views the answer averages (pure).
- ``train``: training and evaluation (imports TensorFlow when imported: load it lazily).
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["params", "user_models", "views", "build", "train"]
