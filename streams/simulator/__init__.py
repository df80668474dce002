"""`firstline simulate`: a discrete-event model of a contact centre that publishes the input
streams (contact, agent and survey events) through the producer library."""
