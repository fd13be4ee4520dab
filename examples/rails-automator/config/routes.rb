# frozen_string_literal: true

Rails.application.routes.draw do
  root "tenants#index"
  resources :tenants, only: %i[index new create show] do
    member do
      post :retry
      post :retire
    end
  end
end
