import threading

from shipyard import flow, step


@step
def make_lock() -> object:
    return threading.Lock()


@step
def not_a_list():  # unannotated: only the run can tell
    return 3


@step
def square(x: int) -> int:
    return x * x


@flow
def unstorable():
    return make_lock()


@flow
def map_non_list():
    return square.map(not_a_list())
