from pipeline.review.cli import main

raise SystemExit(main())
