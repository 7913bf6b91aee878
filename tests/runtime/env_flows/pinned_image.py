from shipyard import flow, step


@step(image="registry.example.com/team/scorer:1.2")
def score() -> int:
    return 1


@step
def report(x: int) -> int:
    return x


@flow(python="3.12")
def pinned_image():
    return report(score())
