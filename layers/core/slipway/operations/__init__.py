"""What a person asks of an environment (start a promotion, answer an approval, roll production back, move an
alias, push a spec), done by the operate function in the name of the caller API Gateway verified."""
