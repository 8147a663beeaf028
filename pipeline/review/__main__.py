from pipeline.review import main

raise SystemExit(main())
