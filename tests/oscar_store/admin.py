# As the README tells an Oscar shop: this app is listed after Oscar's, so Oscar's admin is registered first.
from shop_clip.contrib.oscar.admin import register_product_admin

register_product_admin()
