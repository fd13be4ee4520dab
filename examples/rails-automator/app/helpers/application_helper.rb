# frozen_string_literal: true

# View helpers of the back office.
module ApplicationHelper
  STATUS_CLASSES = {
    "launched" => "ok", "retired" => "muted", "failed" => "bad",
    "launching" => "busy", "retiring" => "busy", "pending" => "busy"
  }.freeze

  # A status word as a coloured badge.
  def status_badge(status)
    tag.span(status, class: "badge #{STATUS_CLASSES.fetch(status.to_s, 'muted')}", id: "status")
  end
end
