# frozen_string_literal: true

# Never log a secret: request parameters whose names match these are shown as [FILTERED] in the
# log (the form has no secret field, this is the second line of defence).
Rails.application.config.filter_parameters += %i[password passw secret token _key crypt salt certificate otp ssn smtp]
