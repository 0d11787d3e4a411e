{{ config(materialized='view', bind=False) }}
select id, name from {{ ref('orders_table') }}
