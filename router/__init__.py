"""The routing engine: which company user is offered which query, and when."""
