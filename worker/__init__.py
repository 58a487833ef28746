"""Background work: the Dramatiq broker, actors and the scheduler process."""
