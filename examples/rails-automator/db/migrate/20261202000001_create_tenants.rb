# frozen_string_literal: true

# The tenants customer service launches, and the progress of each one's last run.
class CreateTenants < ActiveRecord::Migration[6.1]
  def change
    create_table :tenants do |t|
      t.string :name, null: false
      t.string :domain, null: false
      t.string :plan, null: false
      t.string :size, null: false
      t.string :status, null: false, default: "pending"
      t.string :operation
      t.string :run_id
      t.text :error_message
      t.text :outputs
      t.text :kept_protected
      t.datetime :launched_at
      t.datetime :retired_at
      t.timestamps
    end
    add_index :tenants, :name, unique: true

    create_table :tenant_steps do |t|
      t.references :tenant, null: false, foreign_key: true
      t.string :resource, null: false
      t.integer :position, null: false, default: 0
      t.string :status, null: false, default: "pending"
      t.string :action
      t.text :message
      t.integer :duration_ms
      t.integer :requests
      t.timestamps
    end
    add_index :tenant_steps, %i[tenant_id resource], unique: true
  end
end
