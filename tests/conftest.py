"""Shared test setup."""
import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: on a busy 2-core machine OpenMP hand-offs cost more than the maths (100x).
    Applies to every test that has torch; the runtime-only tests never import it here."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
