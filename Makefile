# The two commands of the README, plus helpers.
.PHONY: run test bootstrap

run:        ## set up everything and run web + q2 cluster with demo data (SQLite + ORM broker)
	./scripts/run.sh

test:       ## set up everything and run the whole test suite
	./scripts/test.sh $(ARGS)

bootstrap:  ## only create .venv from requirements.lock
	./scripts/bootstrap.sh
