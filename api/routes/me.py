"""Who the caller is: the name and role of the API key it sent."""

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep
from api.errors import problem_responses
from api.models import Role

router = APIRouter(tags=["access"], responses=problem_responses(401))


class MePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "dr-jones", "role": "radiologist"}]}
    )

    name: str = Field(description="The API key's name.")
    role: Role = Field(description="What the key may do.")


@router.get("/me", response_model=MePublic, summary="The caller's API key: name and role")
def read_me(actor: ActorDep) -> MePublic:
    return MePublic(name=actor.name, role=actor.role)
