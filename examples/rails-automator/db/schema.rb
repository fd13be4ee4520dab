# This file is auto-generated from the current state of the database. Instead
# of editing this file, please use the migrations feature of Active Record to
# incrementally modify your database, and then regenerate this schema definition.
#
# This file is the source Rails uses to define your schema when running `bin/rails
# db:schema:load`. When creating a new database, `bin/rails db:schema:load` tends to
# be faster and is potentially less error prone than running all of your
# migrations from scratch. Old migrations may fail to apply correctly if those
# migrations use external dependencies or application code.
#
# It's strongly recommended that you check this file into your version control system.

ActiveRecord::Schema.define(version: 2026_12_02_000001) do

  create_table "tenant_steps", force: :cascade do |t|
    t.integer "tenant_id", null: false
    t.string "resource", null: false
    t.integer "position", default: 0, null: false
    t.string "status", default: "pending", null: false
    t.string "action"
    t.text "message"
    t.integer "duration_ms"
    t.integer "requests"
    t.datetime "created_at", precision: 6, null: false
    t.datetime "updated_at", precision: 6, null: false
    t.index ["tenant_id", "resource"], name: "index_tenant_steps_on_tenant_id_and_resource", unique: true
    t.index ["tenant_id"], name: "index_tenant_steps_on_tenant_id"
  end

  create_table "tenants", force: :cascade do |t|
    t.string "name", null: false
    t.string "domain", null: false
    t.string "plan", null: false
    t.string "size", null: false
    t.string "status", default: "pending", null: false
    t.string "operation"
    t.string "run_id"
    t.text "error_message"
    t.text "outputs"
    t.text "kept_protected"
    t.datetime "launched_at"
    t.datetime "retired_at"
    t.datetime "created_at", precision: 6, null: false
    t.datetime "updated_at", precision: 6, null: false
    t.index ["name"], name: "index_tenants_on_name", unique: true
  end

  add_foreign_key "tenant_steps", "tenants"
end
