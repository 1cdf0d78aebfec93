"""L-FOCI (Mehta et al., CVPR 2022): the method, CODEC/FOCI slice selection (codec.py), the block
Newton step (newton.py) and slice activations over perturbed copies (slices.py).

Importing the package registers the method (method.py).
"""

from unlearn_core.methods.lfoci import method  # noqa: F401  (importing registers it)
