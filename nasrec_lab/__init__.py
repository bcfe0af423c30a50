"""nasrec-lab: NASRec (weight-sharing NAS for CTR prediction) as a research environment."""

__version__ = "0.1.0"
