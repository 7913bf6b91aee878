from shipyard import flow, step


@step(pip=["six==1.15.0"])
def old_six() -> str:
    import six

    return six.__version__


@flow(pip=["six==1.16.0"])
def pin_conflict():
    return old_six()
