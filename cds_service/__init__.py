"""A small, generic CDS Hooks 2.0 service framework (knows nothing about immunology)."""

from .app import create_app as create_app
from .auth import AuthContext as AuthContext
from .cards import Action as Action
from .cards import ActionType as ActionType
from .cards import Card as Card
from .cards import CardModelError as CardModelError
from .cards import Coding as Coding
from .cards import Indicator as Indicator
from .cards import Link as Link
from .cards import LinkType as LinkType
from .cards import SelectionBehavior as SelectionBehavior
from .cards import ServiceResponse as ServiceResponse
from .cards import Source as Source
from .cards import Suggestion as Suggestion
from .config import Config as Config
from .config import load_config as load_config
from .errors import CdsError as CdsError
from .errors import ConfigError as ConfigError
from .errors import RegistryError as RegistryError
from .registry import FhirReader as FhirReader
from .registry import HookRequest as HookRequest
from .registry import Prefetch as Prefetch
from .registry import Registry as Registry
from .registry import ServiceDefinition as ServiceDefinition
