"""The igcds companion: a SMART on FHIR app for the IgG trend and the dose plan, launched from the cards.

Modules, in the order a launch meets them: ``settings`` (the ``[app]`` section), ``links`` (the SMART link
on dose, trough and IgRT cards), ``smart`` (SMART App Launch 2.0 client, PKCE S256, via Authlib),
``sessions`` (server-side, encrypted sessions behind an opaque cookie), ``data`` (the patient's FHIR data
read with the session's token and mapped as the rules map it), ``trend`` / ``chart`` and ``dose_plan`` /
``vials`` / ``verdict`` (the two views' figures; the verdict: what the dose rules say about the planned
order, and the plan of any dose their cards suggest), ``views`` (the Flask blueprint the assembly mounts
under ``/app/``), ``describe`` (discovery and OpenAPI). This package imports nothing at import time, so the services can
import ``links`` cheaply.
"""
