from actor_trainer.cli import main

raise SystemExit(main())
