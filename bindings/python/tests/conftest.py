import pytest

import mmtree


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "data.mmt")


@pytest.fixture
def db(db_path):
    with mmtree.open(db_path) as db:
        yield db
