"""AWS adapters: the only code that talks to boto3; ClientErrors become domain errors here."""
