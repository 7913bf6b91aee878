from shipyard import flow, step


@step(pip=["six==1.16.0"], python="3.99")
def future() -> int:
    return 1


@flow
def other_python():
    return future()
