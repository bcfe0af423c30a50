"""The weight-sharing supernet (torch): operator registry, sliced paths, standalone subnets, costs."""

from ._model import Subnet, SuperNet, build, init_field_tables_, load_subnet, materialize
from ._ops import FIELD_STARTS, OPERATORS, OpCtx, Operator, OpInputs, ParamSpec, Ranges, register_operator
from ._plan import Geometry, make_plan

__all__ = [
    "FIELD_STARTS",
    "OPERATORS",
    "Geometry",
    "OpCtx",
    "OpInputs",
    "Operator",
    "ParamSpec",
    "Ranges",
    "SuperNet",
    "Subnet",
    "build",
    "init_field_tables_",
    "load_subnet",
    "make_plan",
    "materialize",
    "register_operator",
]

from ._cost import Cost, cost, measure_latency  # noqa: E402

__all__ += ["Cost", "cost", "measure_latency"]
