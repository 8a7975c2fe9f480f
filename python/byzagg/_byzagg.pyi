"""Type stubs of the compiled module byzagg._byzagg (python/src/)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

class BackendUnavailable(RuntimeError): ...  # noqa: N818 (the name users catch)
class NonFiniteError(ValueError): ...

class Aggregator:
    def __init__(
        self,
        rule: str,
        *,
        backend: str = "auto",
        f: int | None = None,
        lam: float | None = None,
        strict: bool = False,
        report_non_finite: bool = False,
    ) -> None: ...
    @property
    def backend(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def coordinatewise(self) -> bool: ...
    @property
    def last_report(self) -> dict[str, Any] | None: ...
    def aggregate_matrix(
        self,
        x: npt.NDArray[np.float32],
        weights: npt.NDArray[np.float64] | None,
        out: npt.NDArray[np.float32],
        root: npt.NDArray[np.float32] | None = None,
    ) -> None: ...
    def aggregate_rows(
        self,
        rows: list[npt.NDArray[np.float32]],
        weights: npt.NDArray[np.float64] | None,
        out: npt.NDArray[np.float32],
        root: npt.NDArray[np.float32] | None = None,
    ) -> None: ...
    def aggregate_layers(
        self,
        clients: list[list[npt.NDArray[np.float32]]],
        weights: npt.NDArray[np.float64] | None,
        out: npt.NDArray[np.float32],
        root: npt.NDArray[np.float32] | None = None,
    ) -> None: ...

def devices() -> list[dict[str, Any]]: ...
def verify(backend: str = "all") -> list[dict[str, Any]]: ...

class ShardSession:
    def __init__(
        self,
        rule: str,
        slice: npt.NDArray[np.float32],
        weights: npt.NDArray[np.float64] | None = None,
        *,
        f: int | None = None,
        lam: float | None = None,
    ) -> None: ...
    def step(
        self,
    ) -> (
        tuple[str, npt.NDArray[np.float64]]
        | tuple[str, npt.NDArray[np.float32], list[dict[str, Any]]]
    ): ...
    def deliver(self, sum: npt.NDArray[np.float64]) -> None: ...

def sum_in_order(partials: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]: ...
def aggregate_cuda(
    agg: Aggregator,
    ptrs: list[int],
    d: int,
    device: int,
    stream: int,
    weights: npt.NDArray[np.float64] | None,
    out: npt.NDArray[np.float32],
) -> None: ...
