# Infrastructure for the test suite: `include mk/infra.mk` from the Makefile.
#   make venv-fhir      .venv-fhir with sekmet-fhir==0.1.1 (the integration tests' FHIR server)
#   make postgres-bin   Debian's PostgreSQL 15 server binaries and the postgres OS user
#   make browser        Debian's Chromium, driven by Playwright's Python API in the browser tests
#   make redis-bin      Debian's Redis server (the JWT replay store shared by several instances)
#   make haproxy-bin    Debian's haproxy (load balancer and slow-client buffer, deploy/haproxy/)
# All are idempotent and fast when everything is already there.

INFRA_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

.PHONY: venv-fhir postgres-bin browser redis-bin haproxy-bin

venv-fhir:
	bash $(INFRA_ROOT)/scripts/venv-fhir.sh

postgres-bin:
	bash $(INFRA_ROOT)/scripts/postgres-bin.sh

browser:
	bash $(INFRA_ROOT)/scripts/browser.sh

redis-bin:
	bash $(INFRA_ROOT)/scripts/redis-bin.sh

haproxy-bin:
	bash $(INFRA_ROOT)/scripts/haproxy-bin.sh
