# faultline.chaos: everything a new machine needs, from the repository's own files.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
INVENTORY ?= inventories/local
# iproute2, util-linux (unshare) and openssh-server/-client: lab hosts in
# network namespaces; websocketd: the WebSocket lab; sysbench, percona-toolkit: make bench;
# libmariadb-dev, pkg-config, gcc, python3-dev: build mysqlclient (the C driver datagen uses when installed);
# librsvg2-bin: rsvg-convert, make suite renders suite.svg to suite.png.
APT_PACKAGES := mariadb-server mariadb-client nftables iptables iproute2 procps util-linux \
	etcd-server etcd-client websocketd openssh-server openssh-client sysbench percona-toolkit rsync \
	python3-venv shellcheck libmariadb-dev pkg-config gcc python3-dev sudo librsvg2-bin
# Lab components for lab-up / lab-down (empty: all of them, see playbooks/lab.yml),
# e.g. make lab-up LAB_COMPONENTS=mysql,hosts
LAB_COMPONENTS ?=
LAB_ARGS := $(if $(LAB_COMPONENTS),-e lab_components=$(LAB_COMPONENTS))
COLL_LINK := .collections/ansible_collections/faultline/chaos

# make suite SUITE_ARGS='-e suite_only=TC-004,WS-006'
SUITE_ARGS ?=

.PHONY: help deps venv mysqlclient collection payload-cache setup demo suite test unit integration lint sanity molecule lab-up lab-down bench build ee clean

help:
	@echo "make demo   - set up, start the lab, run TC-004 (short form), print the report, stop the lab"
	@echo "make suite  - set up, lab up, every test case in its short form, one suite report (reports/suite/<UTC>/), lab down"
	@echo "make test   - set up, then unit, integration (real lab), ansible-lint, ansible-test sanity, molecule, floor (ansible-core 2.16)"
	@echo "make lab-up / lab-down   - all lab components (mysql, websocket, hosts, etcd), or LAB_COMPONENTS=mysql,hosts"
	@echo "make lint / sanity / unit / integration / molecule / bench"
	@echo "make build  - the collection tarball in build/;  make ee - an execution environment build context in ee/context"

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# requirements.txt: what the collection needs; requirements-dev.txt adds the toolchain.
# The venv gets all of it but mysqlclient, which builds from source against the
# MariaDB client headers (apt, make deps): make unit needs no apt and no root.
# The mysqlclient step of make setup (after deps) adds it; without it datagen's
# driver auto is PyMySQL.
MYSQLCLIENT_PIN = $(shell grep -E '^mysqlclient==' requirements.txt)
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	grep -vE '^mysqlclient==' requirements.txt > $(VENV)/requirements-pure.txt
	sed 's|^-r requirements.txt$$|-r requirements-pure.txt|' requirements-dev.txt > $(VENV)/requirements-dev-pure.txt
	$(PY) -m pip install -q --disable-pip-version-check -r $(VENV)/requirements-dev-pure.txt
	touch $@

venv: $(VENV)/.installed

mysqlclient: venv
	@$(PY) -c 'import importlib.metadata as m, sys; sys.exit(m.version("mysqlclient") != sys.argv[1])' \
	  $(subst mysqlclient==,,$(MYSQLCLIENT_PIN)) 2>/dev/null \
	  || $(PY) -m pip install -q --disable-pip-version-check '$(MYSQLCLIENT_PIN)'

collection:
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn ../../.. $(COLL_LINK)

# The integration tests' bytecode cache of Ansible's module_utils in AnsiballZ runs
# (tests/integration/support/payload_cache.py): a .pth line in the venv that does
# nothing unless /run/faultline-payload-cache exists (only in make test's lab instances).
payload-cache: venv
	@$(PY) tests/integration/support/payload_cache.py

setup: deps venv mysqlclient collection payload-cache

demo: setup
	bash scripts/demo.sh

suite: setup
	bash scripts/suite.sh $(SUITE_ARGS)

test: setup
	bash scripts/test.sh

# unit tests need the venv only (no apt, no root, no lab)
unit: venv collection
	$(PY) -m pytest -q tests/unit

# like the steps of make test: each with private lab instances (scripts/lab-ns.sh)
integration: setup
	bash scripts/test.sh integration

lint: setup
	ansible-lint --profile production

sanity: setup
	bash scripts/sanity.sh

molecule: setup
	bash scripts/test.sh molecule

lab-up: setup
	ansible-playbook playbooks/lab.yml -e lab_state=up $(LAB_ARGS)

lab-down: setup
	ansible-playbook playbooks/lab.yml -e lab_state=down $(LAB_ARGS)

# BENCH: only these scripts, e.g. make bench BENCH="rule_latency_bench flap_edge_bench"
BENCH ?=
bench: setup
	bash benchmarks/run.sh $(BENCH)

# The collection tarball (what `ansible-galaxy collection install` takes) in build/.
build: venv
	ansible-galaxy collection build --force --output-path build

# An execution environment build context in ee/context (no container engine
# needed; build it with `podman build -f ee/context/Dockerfile ee/context`).
ee: build
	cp build/faultline-chaos-$$(sed -n 's/^version: *//p' galaxy.yml).tar.gz ee/faultline-chaos.tar.gz
	ansible-builder create -f ee/execution-environment.yml -c ee/context

clean: lab-down
	rm -rf reports .collections build ee/context ee/faultline-chaos.tar.gz
