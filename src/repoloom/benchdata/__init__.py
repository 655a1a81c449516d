"""Raw benchmark records, from a local copy or the public hub: the ground floor that the
evaluate benchmarks (``repoloom.evaluate.benchmarks``) and corpus decontamination
(``repoloom.corpus.decontam``) both read, so what is evaluated is what is decontaminated.

One module per benchmark family; each says where its files lie under a benchmark directory
(``--data-dir`` / ``REPOLOOM_DATA``), which public dataset stands in when there is none
(:mod:`repoloom.benchdata.hub`), and returns plain records. Nothing here builds prompts or
grades: that is ``repoloom.evaluate``. Imports nothing of repoloom but ``io``.
"""

from repoloom.benchdata.built import crossfile_file, heldout_file
from repoloom.benchdata.hub import hub_reachable, hub_records
from repoloom.benchdata.humaneval import (
    entry_point_of,
    humaneval_file,
    humaneval_records,
    humaneval_task_id,
)
from repoloom.benchdata.infilling import infill_files, infilling_records
from repoloom.benchdata.leetcode import leetcode_files, leetcode_records
from repoloom.benchdata.local import (
    DATA_ENV,
    DataNotFound,
    data_dir,
    find_local,
    read_json_records,
)
from repoloom.benchdata.mbpp import MBPP_HUB, load_mbpp_records, local_mbpp
from repoloom.benchdata.multiple import (
    MULTIPLE_HUB,
    local_multiple,
    local_multiple_keys,
    multiple_records,
)
from repoloom.benchdata.pal_math import SETS as MATH_SETS
from repoloom.benchdata.pal_math import MathSet, math_records

__all__ = [
    "DATA_ENV",
    "MATH_SETS",
    "MBPP_HUB",
    "MULTIPLE_HUB",
    "DataNotFound",
    "MathSet",
    "crossfile_file",
    "data_dir",
    "entry_point_of",
    "find_local",
    "heldout_file",
    "hub_reachable",
    "hub_records",
    "humaneval_file",
    "humaneval_records",
    "humaneval_task_id",
    "infill_files",
    "infilling_records",
    "leetcode_files",
    "leetcode_records",
    "load_mbpp_records",
    "local_mbpp",
    "local_multiple",
    "local_multiple_keys",
    "math_records",
    "multiple_records",
    "read_json_records",
]
