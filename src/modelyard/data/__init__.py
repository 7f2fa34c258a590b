"""Datasets: content digests, schemas and statistical profiles.

Every dataset a run reads or writes is recorded by :func:`describe_dataset` as a
:class:`DatasetInfo`: a BLAKE3 digest of its full content (its identity), its shape, Arrow schema
and a compact profile that monitoring later compares production traffic against. Tables are
hashed through one canonical Arrow form, arrays by dtype, shape and bytes, files by their bytes,
folders as a Merkle manifest of their files; a :class:`StatCache` spares re-reading unchanged
files. Importing this package is cheap: numpy, pandas and pyarrow load on first use.

>>> import pandas as pd
>>> info = describe_dataset(pd.DataFrame({"age": [31, 45], "city": ["Oslo", "Rome"]}))
>>> info.kind, info.rows, info.columns, info.profile["columns"]["age"]["mean"]
('dataframe', 2, 2, 38.0)
"""

from __future__ import annotations

from modelyard.data.datasets import describe_dataset
from modelyard.data.files import digest_path
from modelyard.data.frames import digest_array, digest_dataframe
from modelyard.data.info import DatasetInfo
from modelyard.data.profiles import profile_frame
from modelyard.data.stat_cache import StatCache

__all__ = [
    "DatasetInfo",
    "StatCache",
    "describe_dataset",
    "digest_array",
    "digest_dataframe",
    "digest_path",
    "profile_frame",
]
