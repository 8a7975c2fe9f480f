"""Type stubs of the compiled module byzagg._byzagg (python/src/)."""

from typing import Any, Optional

import numpy as np
import numpy.typing as npt

__version__: str

class BackendUnavailable(RuntimeError): ...
class NonFiniteError(ValueError): ...

class Aggregator:
    def __init__(
        self,
        rule: str,
        *,
        backend: str = "auto",
        f: Optional[int] = None,
        lam: Optional[float] = None,
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
    def last_report(self) -> Optional[dict[str, Any]]: ...
    def aggregate_matrix(
        self,
        x: npt.NDArray[np.float32],
        weights: Optional[npt.NDArray[np.float64]],
        out: npt.NDArray[np.float32],
    ) -> None: ...
    def aggregate_rows(
        self,
        rows: list[npt.NDArray[np.float32]],
        weights: Optional[npt.NDArray[np.float64]],
        out: npt.NDArray[np.float32],
    ) -> None: ...
    def aggregate_layers(
        self,
        clients: list[list[npt.NDArray[np.float32]]],
        weights: Optional[npt.NDArray[np.float64]],
        out: npt.NDArray[np.float32],
    ) -> None: ...

def devices() -> list[dict[str, Any]]: ...
def verify(backend: str = "all") -> list[dict[str, Any]]: ...
