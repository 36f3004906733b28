"Shared pytest fixtures."
import pytest, torch

@pytest.fixture(scope='module')
def one_thread():
    "On a few shared cores one torch thread is much faster than several fighting (learner and experiment tests)."
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
