"""Data: schema, synthetic click model, raw readers, preprocessing, memory-mapped loader."""

from ._dataset import CTRDataset, SplitArrays, binary_logloss
from ._errors import DataFormatError
from ._formats import AVAZU, CRITEO, KDD, RawFormat, csv_format
from ._loader import Batch, BatchLoader
from ._preprocess import FORMATS, PreprocessOptions, csv_columns, preprocess
from ._schema import PRESET_SCHEMAS, FeatureSchema
from ._split import autoctr_assignment, random_assignment, stratified_folds
from ._synthetic import (
    SYNTHETIC_PRESETS,
    ClickModel,
    SyntheticSpec,
    open_or_synthesize,
    synthesize,
    synthetic_differences,
    synthetic_record,
    write_raw_criteo,
)

__all__ = [
    "AVAZU",
    "CRITEO",
    "FORMATS",
    "KDD",
    "PRESET_SCHEMAS",
    "Batch",
    "BatchLoader",
    "CTRDataset",
    "ClickModel",
    "DataFormatError",
    "FeatureSchema",
    "PreprocessOptions",
    "RawFormat",
    "SplitArrays",
    "SYNTHETIC_PRESETS",
    "SyntheticSpec",
    "autoctr_assignment",
    "binary_logloss",
    "csv_columns",
    "csv_format",
    "preprocess",
    "random_assignment",
    "stratified_folds",
    "open_or_synthesize",
    "synthesize",
    "synthetic_differences",
    "synthetic_record",
    "write_raw_criteo",
]
