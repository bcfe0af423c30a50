"""Search space, architectures and the operators' metadata: plain, JSON-able data (no torch)."""

from ._arch import (
    ARCH_FORMAT,
    Architecture,
    Block,
    BlockLiveness,
    from_release_json,
    load_architecture,
    save_architecture,
    to_release_json,
    validate,
)
from ._operators import (
    INTERACTIONS,
    OPERATOR_INFO,
    OperatorInfo,
    define_operator,
    operator_info,
    operators,
    remove_operator,
)
from ._published import PUBLISHED, PUBLISHED_DIR, PublishedArchitecture, published_path
from ._sampling import (
    MUTATIONS,
    STRATEGIES,
    PathSampler,
    WarmupSchedule,
    full_path,
    mutate,
    sample_architecture,
)
from ._space import FULL, OPERATOR_KINDS, PRESETS, SMALL, SearchSpace, get_space

__all__ = [
    "ARCH_FORMAT",
    "FULL",
    "INTERACTIONS",
    "MUTATIONS",
    "OPERATOR_INFO",
    "OPERATOR_KINDS",
    "PRESETS",
    "PUBLISHED",
    "PUBLISHED_DIR",
    "SMALL",
    "STRATEGIES",
    "Architecture",
    "Block",
    "BlockLiveness",
    "OperatorInfo",
    "PathSampler",
    "PublishedArchitecture",
    "SearchSpace",
    "WarmupSchedule",
    "define_operator",
    "from_release_json",
    "full_path",
    "get_space",
    "load_architecture",
    "mutate",
    "operator_info",
    "operators",
    "published_path",
    "remove_operator",
    "sample_architecture",
    "save_architecture",
    "to_release_json",
    "validate",
]
