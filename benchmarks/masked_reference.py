"""The masked supernet computed as the authors' release does: now ``nasrec_lab.bench._masked_reference``."""

from nasrec_lab.bench._masked_reference import MaskedBlock, MaskedSuperNet

__all__ = ["MaskedBlock", "MaskedSuperNet"]
